
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/crypto/aead.cc" "crypto/CMakeFiles/mfs_crypto.dir/aead.cc.o" "gcc" "crypto/CMakeFiles/mfs_crypto.dir/aead.cc.o.d"
  "/work/main/crypto/kdf.cc" "crypto/CMakeFiles/mfs_crypto.dir/kdf.cc.o" "gcc" "crypto/CMakeFiles/mfs_crypto.dir/kdf.cc.o.d"
  "/work/main/crypto/name_cipher.cc" "crypto/CMakeFiles/mfs_crypto.dir/name_cipher.cc.o" "gcc" "crypto/CMakeFiles/mfs_crypto.dir/name_cipher.cc.o.d"
  "/work/main/crypto/secure_memory.cc" "crypto/CMakeFiles/mfs_crypto.dir/secure_memory.cc.o" "gcc" "crypto/CMakeFiles/mfs_crypto.dir/secure_memory.cc.o.d"
  "/work/main/crypto/signing.cc" "crypto/CMakeFiles/mfs_crypto.dir/signing.cc.o" "gcc" "crypto/CMakeFiles/mfs_crypto.dir/signing.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/util/CMakeFiles/mfs_util.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
