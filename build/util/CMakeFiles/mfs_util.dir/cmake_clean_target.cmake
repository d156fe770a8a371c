file(REMOVE_RECURSE
  "libmfs_util.a"
)
