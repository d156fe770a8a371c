
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/util/bytes.cc" "util/CMakeFiles/mfs_util.dir/bytes.cc.o" "gcc" "util/CMakeFiles/mfs_util.dir/bytes.cc.o.d"
  "/work/main/util/file_io.cc" "util/CMakeFiles/mfs_util.dir/file_io.cc.o" "gcc" "util/CMakeFiles/mfs_util.dir/file_io.cc.o.d"
  "/work/main/util/result.cc" "util/CMakeFiles/mfs_util.dir/result.cc.o" "gcc" "util/CMakeFiles/mfs_util.dir/result.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
