"""Course assignments: checkers that compare a student's code with the library's and say, in plain words,
the first thing that is wrong (CS231n-style), and the tool that writes the student version of the exercise
notebooks (notebooks/exercises/, nbgrader's markers).

    from slca_min.exercises import check_slca
    check_slca(MySLCA)   # raises ExerciseError naming the fault, or prints what passed

May import the model, sam/, data/, study/ and utils/. Nothing in the library imports it.
"""
from .checks import ExerciseError
from .comparison import check_paired_difference
from .pooling import check_region_pooling
from .slca import check_integration, check_slca

__all__ = ["ExerciseError", "check_slca", "check_integration", "check_region_pooling", "check_paired_difference"]
