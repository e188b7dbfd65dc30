"""Training: corpus preparation (`make data`), datasets, losses and the resumable trainer (`make train`)."""
