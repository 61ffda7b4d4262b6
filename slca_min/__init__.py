"""slca_min: frozen SAM image features + Spatially Localized Channel Attention for medical image classification."""
from .classifier import SLCAClassifier
from .data.dataset import RegionDataset
from .data.folders import load_csv, load_folder, load_isic
from .data.loaders import load_data, load_medmnist, stratified_fraction
from .data.phantoms import make_phantoms, oracle_regions, save_phantoms
from .pipeline.cache import extract
from .pipeline.model_file import load_model
from .pipeline.predict import predict_images
from .sam.encoder import SAMEncoder
from .sam.miniature import miniature_checkpoint
from .slca import SLCA
from .train import classification_metrics, evaluate, predict, train
from .utils import distributed

__all__ = ["SAMEncoder", "SLCA", "SLCAClassifier", "train", "evaluate", "predict", "classification_metrics",
           "RegionDataset", "load_data", "load_medmnist", "load_isic", "make_phantoms", "save_phantoms",
           "stratified_fraction", "extract", "oracle_regions", "load_folder", "load_csv", "load_model",
           "predict_images", "distributed", "miniature_checkpoint"]
