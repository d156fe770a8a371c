file(REMOVE_RECURSE
  "CMakeFiles/mfs_util.dir/bytes.cc.o"
  "CMakeFiles/mfs_util.dir/bytes.cc.o.d"
  "CMakeFiles/mfs_util.dir/file_io.cc.o"
  "CMakeFiles/mfs_util.dir/file_io.cc.o.d"
  "CMakeFiles/mfs_util.dir/result.cc.o"
  "CMakeFiles/mfs_util.dir/result.cc.o.d"
  "libmfs_util.a"
  "libmfs_util.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/mfs_util.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
