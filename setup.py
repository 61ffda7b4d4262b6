from setuptools import find_packages, setup

setup(
    name="slca_min",
    version="0.5.0",
    description="Frozen SAM features + Spatially Localized Channel Attention (SLCA) for medical image classification",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["slca_min", "slca_min.*"]),
    python_requires=">=3.9",
    install_requires=[
        "torch",
        "torchvision",
        "segment-anything",
        "numpy",
        "pillow",
        "matplotlib",
        "tqdm",
    ],
    extras_require={
        "dev": ["pytest", "nbclient", "nbformat", "ipykernel"],
        "notebooks": ["jupyter"],
        "timm": ["timm"],
        "dicom": ["pydicom>=3"],  # .dcm images  # backbone="timm:NAME" (e.g. timm:senet154, the paper's SENet-154)
    },
)
