"""The science of GDT: factors, batch sampling, contrast/weights, loss, data, encoders, training, evaluation."""
