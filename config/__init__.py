from config.settings import FaceCrop, Settings, SettingsError, load_settings

__all__ = ["FaceCrop", "Settings", "SettingsError", "load_settings"]
