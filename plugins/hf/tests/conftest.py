"""Tiny models on a shared machine: one torch thread avoids OpenMP contention."""

import torch

torch.set_num_threads(1)
