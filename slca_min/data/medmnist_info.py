"""The 12 MedMNIST v3 2D data sets: task, class names, split sizes and the MD5 of each file (28/64/128/224 px).

Facts from the `medmnist` package's INFO table (medmnist 3.0.2, info.py); tests compare this table
with it when `medmnist` is installed. Files: https://zenodo.org/records/10519652/files/{flag}{suffix}.npz
with suffix "" for 28 px and "_64", "_128", "_224" for the larger sizes.
"""
from __future__ import annotations

URL = "https://zenodo.org/records/10519652/files"
SIZES = (28, 64, 128, 224)

# flag: (task, class names, (train, val, test), {size: MD5})
MEDMNIST = {
    "pathmnist": ("multi-class",
        ('adipose', 'background', 'debris', 'lymphocytes', 'mucus', 'smooth muscle', 'normal colon mucosa', 'cancer-associated stroma', 'colorectal adenocarcinoma epithelium'),
        (89996, 10004, 7180), {28: 'a8b06965200029087d5bd730944a56c1', 64: '55aa9c1e0525abe5a6b9d8343a507616', 128: 'ac42d08fb904d92c244187169d1fd1d9', 224: '2c51a510bcdc9cf8ddb2af93af1eadec'}),
    "chestmnist": ("multi-label, binary-class",
        ('atelectasis', 'cardiomegaly', 'effusion', 'infiltration', 'mass', 'nodule', 'pneumonia', 'pneumothorax', 'consolidation', 'edema', 'emphysema', 'fibrosis', 'pleural', 'hernia'),
        (78468, 11219, 22433), {28: '02c8a6516a18b556561a56cbdd36c4a8', 64: '9de6cd0b934ebb5b7426cfba5efbae16', 128: 'db107e5590b27930b62dbaf558aebee3', 224: '45bd33e6f06c3e8cdb481c74a89152aa'}),
    "dermamnist": ("multi-class",
        ('actinic keratoses and intraepithelial carcinoma', 'basal cell carcinoma', 'benign keratosis-like lesions', 'dermatofibroma', 'melanoma', 'melanocytic nevi', 'vascular lesions'),
        (7007, 1003, 2005), {28: '0744692d530f8e62ec473284d019b0c7', 64: 'b70a2f5635c6199aeaa28c31d7202e1f', 128: '2defd784463fa5243564e855ed717de1', 224: '8974907d8e169bef5f5b96bc506ae45d'}),
    "octmnist": ("multi-class",
        ('choroidal neovascularization', 'diabetic macular edema', 'drusen', 'normal'),
        (97477, 10832, 1000), {28: 'c68d92d5b585d8d81f7112f81e2d0842', 64: 'e229e9440236b774d9f0dfef9d07bdaf', 128: '0a97e76651ace45c5d943ee3f65b63ae', 224: 'abc493b6d529d5de7569faaef2773ba3'}),
    "pneumoniamnist": ("binary-class",
        ('normal', 'pneumonia'),
        (4708, 524, 624), {28: '28209eda62fecd6e6a2d98b1501bb15f', 64: '8f4eceb4ccffa70c672198ea285246c6', 128: '05b46931834c231683c68f40c47b2971', 224: 'd6a3c71de1b945ea11211b03746c1fe1'}),
    "retinamnist": ("ordinal-regression",
        ('0', '1', '2', '3', '4'),
        (1080, 120, 400), {28: 'bd4c0672f1bba3e3a89f0e4e876791e4', 64: 'afda852cc34dcda56f86ad2b2457dbcc', 128: 'e48e916a24454daf90583d4e6efb1a18', 224: 'eae7e3b6f3fcbda4ae613ebdcbe35348'}),
    "breastmnist": ("binary-class",
        ('malignant', 'normal, benign'),
        (546, 78, 156), {28: '750601b1f35ba3300ea97c75c52ff8f6', 64: '742edef2a1fd1524b2efff4bd7ba9364', 128: '363e4b3f8d712e9b5de15470a2aaadf1', 224: 'b56378a6eefa9fed602bb16d192d4c8b'}),
    "bloodmnist": ("multi-class",
        ('basophil', 'eosinophil', 'erythroblast', 'immature granulocytes(myelocytes, metamyelocytes and promyelocytes)', 'lymphocyte', 'monocyte', 'neutrophil', 'platelet'),
        (11959, 1712, 3421), {28: '7053d0359d879ad8a5505303e11de1dc', 64: '2b94928a2ae4916078ca51e05b6b800b', 128: 'adace1e0ed228fccda1f39692059dd4c', 224: 'b718ff6835fcbdb22ba9eacccd7b2601'}),
    "tissuemnist": ("multi-class",
        ('Collecting Duct, Connecting Tubule', 'Distal Convoluted Tubule', 'Glomerular endothelial cells', 'Interstitial endothelial cells', 'Leukocytes', 'Podocytes', 'Proximal Tubule Segments', 'Thick Ascending Limb'),
        (165466, 23640, 47280), {28: 'ebe78ee8b05294063de985d821c1c34b', 64: '123ece2eba09d0aa5d698fda57103344', 128: '61b955355d7425a89687b06cca3ce0c2', 224: 'b077128c4a949f0a4eb01517f9037b9c'}),
    "organamnist": ("multi-class",
        ('bladder', 'femur-left', 'femur-right', 'heart', 'kidney-left', 'kidney-right', 'liver', 'lung-left', 'lung-right', 'pancreas', 'spleen'),
        (34561, 6491, 17778), {28: '68e3f8846a6bd62f0c9bf841c0d9eacc', 64: '2dcccc29b88e6da5a01161ef20cda288', 128: 'eeae80d0a227a8d099027e1b3cfd3b60', 224: '50747347e05c87dd3aaf92c49f9f3170'}),
    "organcmnist": ("multi-class",
        ('bladder', 'femur-left', 'femur-right', 'heart', 'kidney-left', 'kidney-right', 'liver', 'lung-left', 'lung-right', 'pancreas', 'spleen'),
        (12975, 2392, 8216), {28: 'b9ceb9546e10131b32923c5bbeaea2b1', 64: '3ce34a8724ea6f548e6db4744d03b6a9', 128: '773c1f009daa3fe5d9a2a201b2a7ed94', 224: '050f5e875dc056f6768abf94ec9995d1'}),
    "organsmnist": ("multi-class",
        ('bladder', 'femur-left', 'femur-right', 'heart', 'kidney-left', 'kidney-right', 'liver', 'lung-left', 'lung-right', 'pancreas', 'spleen'),
        (13932, 2452, 8827), {28: '9ab87b696fb54e2a387ebe992d6ed5f1', 64: '53a6d115339d874c25e309a994ff46d3', 128: 'ded0c5fa01a95dc4978b956f613e9b8e', 224: 'b354719e553fbbb2513d5533f52a4cb1'}),
}


def file_name(flag: str, size: int) -> str:
    return f"{flag}{'' if size == 28 else f'_{size}'}.npz"


def flag_of(path) -> str | None:
    """The MedMNIST flag a file name starts with (breastmnist_224.npz -> breastmnist), or None."""
    stem = str(path).replace("\\", "/").rsplit("/", 1)[-1].split(".")[0].split("_")[0]
    return stem if stem in MEDMNIST else None
