# Empty dependencies file for mfs_vault.
# This may be replaced when dependencies are built.
