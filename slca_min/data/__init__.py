"""Images and labels in: MedMNIST files, folders, CSV lists, ISIC, DICOM (images.py); splits and their
fingerprints (split.py); RegionDataset, which pairs images with their region descriptors; the phantoms;
the MedMNIST table; downloads.

May import utils/ and sam/ (for SAM's input conventions). Never imports the model, pipeline/, study/ or cli/.
"""
