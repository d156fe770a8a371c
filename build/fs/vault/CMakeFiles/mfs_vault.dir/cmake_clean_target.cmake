file(REMOVE_RECURSE
  "libmfs_vault.a"
)
