"""Encoders: the video and audio backbones with their projection heads."""

from core.models.encoders import AVEncoders, build_encoders

__all__ = ["AVEncoders", "build_encoders"]
