"""The native Open Badges issuer: hosted OB 2.0 verification, for establishments without OBF."""
