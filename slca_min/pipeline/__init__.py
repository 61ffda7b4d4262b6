"""What connects the model to files on disk: the region cache (cache.py), model.pt (model_file.py) and
prediction on new images (predict.py).

May import the model's files at the top of slca_min, sam/, data/ and utils/. Never imports study/ or cli/.
"""
