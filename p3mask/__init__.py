"""p3mask: personalized privacy protection masks against unauthorized face recognition.

An implementation of Chameleon (K.-H. Chow, S. Hu, T. Huang, L. Liu, ECCV 2024).
"""

__version__ = "0.1.0"
