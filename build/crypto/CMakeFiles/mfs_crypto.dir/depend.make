# Empty dependencies file for mfs_crypto.
# This may be replaced when dependencies are built.
