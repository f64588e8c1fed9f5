"""Feeding training: building the recipe's sources, mixing them by weight, collating batches."""
