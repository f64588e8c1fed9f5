"""Training through Lightning: sources, the LightningModule, the DataModule, the run."""
