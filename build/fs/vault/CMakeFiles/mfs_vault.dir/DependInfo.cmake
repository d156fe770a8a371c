
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/fs/vault/credentials.cc" "fs/vault/CMakeFiles/mfs_vault.dir/credentials.cc.o" "gcc" "fs/vault/CMakeFiles/mfs_vault.dir/credentials.cc.o.d"
  "/work/main/fs/vault/file_codec.cc" "fs/vault/CMakeFiles/mfs_vault.dir/file_codec.cc.o" "gcc" "fs/vault/CMakeFiles/mfs_vault.dir/file_codec.cc.o.d"
  "/work/main/fs/vault/keyring.cc" "fs/vault/CMakeFiles/mfs_vault.dir/keyring.cc.o" "gcc" "fs/vault/CMakeFiles/mfs_vault.dir/keyring.cc.o.d"
  "/work/main/fs/vault/names.cc" "fs/vault/CMakeFiles/mfs_vault.dir/names.cc.o" "gcc" "fs/vault/CMakeFiles/mfs_vault.dir/names.cc.o.d"
  "/work/main/fs/vault/vault.cc" "fs/vault/CMakeFiles/mfs_vault.dir/vault.cc.o" "gcc" "fs/vault/CMakeFiles/mfs_vault.dir/vault.cc.o.d"
  "/work/main/fs/vault/vault_config.cc" "fs/vault/CMakeFiles/mfs_vault.dir/vault_config.cc.o" "gcc" "fs/vault/CMakeFiles/mfs_vault.dir/vault_config.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/crypto/CMakeFiles/mfs_crypto.dir/DependInfo.cmake"
  "/work/main/build/util/CMakeFiles/mfs_util.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
