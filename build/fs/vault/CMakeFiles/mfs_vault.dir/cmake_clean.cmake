file(REMOVE_RECURSE
  "CMakeFiles/mfs_vault.dir/credentials.cc.o"
  "CMakeFiles/mfs_vault.dir/credentials.cc.o.d"
  "CMakeFiles/mfs_vault.dir/file_codec.cc.o"
  "CMakeFiles/mfs_vault.dir/file_codec.cc.o.d"
  "CMakeFiles/mfs_vault.dir/keyring.cc.o"
  "CMakeFiles/mfs_vault.dir/keyring.cc.o.d"
  "CMakeFiles/mfs_vault.dir/names.cc.o"
  "CMakeFiles/mfs_vault.dir/names.cc.o.d"
  "CMakeFiles/mfs_vault.dir/vault.cc.o"
  "CMakeFiles/mfs_vault.dir/vault.cc.o.d"
  "CMakeFiles/mfs_vault.dir/vault_config.cc.o"
  "CMakeFiles/mfs_vault.dir/vault_config.cc.o.d"
  "libmfs_vault.a"
  "libmfs_vault.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/mfs_vault.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
