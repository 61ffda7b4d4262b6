"""slca_min: frozen SAM image features + Spatially Localized Channel Attention for medical image classification."""
from .cache import extract
from .classifier import SLCAClassifier
from . import distributed
from .data import load_data, load_medmnist, stratified_fraction
from .dataset import RegionDataset
from .folders import load_csv, load_folder, load_isic
from .phantoms import make_phantoms, oracle_regions, save_phantoms
from .encoder import SAMEncoder
from .miniature import miniature_checkpoint
from .model_file import load_model
from .predict import predict_images
from .slca import SLCA
from .train import classification_metrics, evaluate, predict, train

__all__ = ["SAMEncoder", "SLCA", "SLCAClassifier", "train", "evaluate", "predict", "classification_metrics",
           "RegionDataset", "load_data", "load_medmnist", "load_isic", "make_phantoms", "save_phantoms",
           "stratified_fraction", "extract", "oracle_regions", "load_folder", "load_csv", "load_model",
           "predict_images", "distributed", "miniature_checkpoint"]
