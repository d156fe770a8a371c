file(REMOVE_RECURSE
  "CMakeFiles/mfs_crypto.dir/aead.cc.o"
  "CMakeFiles/mfs_crypto.dir/aead.cc.o.d"
  "CMakeFiles/mfs_crypto.dir/kdf.cc.o"
  "CMakeFiles/mfs_crypto.dir/kdf.cc.o.d"
  "CMakeFiles/mfs_crypto.dir/name_cipher.cc.o"
  "CMakeFiles/mfs_crypto.dir/name_cipher.cc.o.d"
  "CMakeFiles/mfs_crypto.dir/secure_memory.cc.o"
  "CMakeFiles/mfs_crypto.dir/secure_memory.cc.o.d"
  "CMakeFiles/mfs_crypto.dir/signing.cc.o"
  "CMakeFiles/mfs_crypto.dir/signing.cc.o.d"
  "libmfs_crypto.a"
  "libmfs_crypto.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/mfs_crypto.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
