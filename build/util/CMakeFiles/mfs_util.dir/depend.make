# Empty dependencies file for mfs_util.
# This may be replaced when dependencies are built.
