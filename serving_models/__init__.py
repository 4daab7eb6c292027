"""Model definitions exported to TensorFlow Serving SavedModels by scripts/export_models.py.

The exported `<name>/<version>/` folders, models.config, batching.config and manifest.json
sit beside this file and are build outputs (git-ignored)."""
