"""Shipping the champion: the OCI image (image.py, container/) and the AWS targets (ECS, Lambda, S3 site, storage)."""
