"""S3 over real HTTP: moto in server mode (fixtures added by the backup work)."""
