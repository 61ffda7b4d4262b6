"""The stand-in for ImageNet: synthetic shape scenes (shape_scenes.py) and the recipe that pretrains a ResNet-18 on them (pretrain.py).

backbones.py builds its weights file on first use. Imports nothing from slca_min: pure numpy and torch.
"""
