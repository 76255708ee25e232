"""The science of GDT, one sub-package per concept.

`core.gdt` (factors, configurations and their validity, sampling, contrast/weights, loss, presets),
`core.data` (the world, video folders and datasets, the clip cache, clips, augmentation, batches),
`core.models` (encoders), `core.train` (pretraining, fine-tuning), `core.evaluation` (proxy scores and
measured invariance); `core.trial` runs one trial on top of them, `core.threads` sets its thread share.
"""
