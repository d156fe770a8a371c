file(REMOVE_RECURSE
  "libmfs_crypto.a"
)
