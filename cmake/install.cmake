# What `cmake --install BUILD` (and the deb, cpack -G DEB) puts where; docs/OPERATIONS.md
# "Installing" has the table. Prefix-relative paths follow GNUInstallDirs; the systemd unit
# directory and /etc/matterfs are worked out by cmake/matterfs_paths.cmake at install time,
# so `cmake --install BUILD --prefix P` and the deb (prefix /usr) get units naming their
# own binaries.
include(GNUInstallDirs)
# Installing and packaging do not build the whole tree (the test binaries are most of it):
# build matterfs and matterctl first (`--target matterfs matterctl`), then `cmake --install`
# or `cpack`. Without this, cpack's preinstall step would build every test first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# bin, not sbin: staff run matterctl themselves (status, break-glass), and a user may
# mount a vault of their own.
install(TARGETS matterfs matterctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages, gzipped (gzip -9n: no name or time stamp, the same bytes every time) as Debian
# wants them; man reads them so from any prefix. Compressed when CMake configures (and again
# whenever a page changes: CMAKE_CONFIGURE_DEPENDS), not by a build target, so that
# `cmake --build BUILD --target matterfs matterctl && cmake --install BUILD` (the quick
# start) installs them too.
set(MATTERFS_MAN_PAGES matterfs.8 matterctl.8 matterfs-policy.5 matterfs.conf.5)
find_program(GZIP_PROGRAM gzip REQUIRED)
foreach(page IN LISTS MATTERFS_MAN_PAGES)
  set(source ${PROJECT_SOURCE_DIR}/man/${page})
  set(compressed ${PROJECT_BINARY_DIR}/man/${page}.gz)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/man)
  execute_process(COMMAND ${GZIP_PROGRAM} -9n -c ${source} OUTPUT_FILE ${compressed}
                  RESULT_VARIABLE gzip_result)
  if(NOT gzip_result EQUAL 0)
    message(FATAL_ERROR "gzip -9n ${source}: ${gzip_result}")
  endif()
  string(REGEX REPLACE ".*\\." "" section ${page})
  install(FILES ${compressed} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

install(FILES completions/matterctl completions/matterfs
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# The documentation keeps the repository's layout, so that README.md's links work.
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB MATTERFS_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${MATTERFS_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(FILES examples/policy/firm.ini examples/instance.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# systemd units and the example configuration (cmake/matterfs_paths.cmake says where).
set(MATTERFS_CONFDIR_OVERRIDE "" CACHE PATH
    "Where the example configuration goes and the units look for NAME.conf (default: /etc/matterfs for the prefixes /usr and /usr/local)")
set(MATTERFS_UNITDIR_OVERRIDE "" CACHE PATH
    "systemd system unit directory (default: systemd's own for the prefix /usr, else PREFIX/lib/systemd/system)")
pkg_get_variable(MATTERFS_SYSTEMD_SYSTEM_UNIT_DIR systemd systemdsystemunitdir)
if(NOT MATTERFS_SYSTEMD_SYSTEM_UNIT_DIR)
  set(MATTERFS_SYSTEMD_SYSTEM_UNIT_DIR /lib/systemd/system)
endif()
file(GLOB MATTERFS_UNIT_TEMPLATES ${PROJECT_SOURCE_DIR}/systemd/*.in)
set(MATTERFS_UNIT_TEMPLATES_QUOTED "")
foreach(template IN LISTS MATTERFS_UNIT_TEMPLATES)
  string(APPEND MATTERFS_UNIT_TEMPLATES_QUOTED " \"${template}\"")
endforeach()
include(${PROJECT_SOURCE_DIR}/cmake/matterfs_paths.cmake)
# The units for this build's prefix, in BUILD/systemd/, for `systemd-analyze verify` and
# for copying by hand.
matterfs_paths("${CMAKE_INSTALL_PREFIX}" "${CMAKE_INSTALL_BINDIR}" "${CMAKE_INSTALL_DOCDIR}")
matterfs_configure_units(${PROJECT_BINARY_DIR}/systemd ${MATTERFS_UNIT_TEMPLATES})
configure_file(cmake/install_units.cmake.in ${PROJECT_BINARY_DIR}/install_units.cmake @ONLY)
install(SCRIPT ${PROJECT_BINARY_DIR}/install_units.cmake)

# ---- Debian package: cpack -G DEB in the build directory --------------------------------
# The package always installs under /usr, whatever CMAKE_INSTALL_PREFIX says.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME matterfs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Stage with DESTDIR and CMAKE_INSTALL_PREFIX=/usr (not a prefix inside the staging
# directory), so that the install-time step sees the real prefix: units naming
# /usr/bin/matterfs, in /lib/systemd/system, and /etc/matterfs.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "encrypted FUSE file system for law firms' case files")
# The long description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "matterfs keeps each client matter in a folder with its own keys; the storage
underneath holds only ciphertext, names included. The matterfs daemon mounts a
vault and enforces the firm's access policy (roles, ethical walls, closed
matters, legal holds, break-glass) on every open, sending audit events to
syslog. matterctl creates vaults and matters, rotates and wipes keys, checks
vaults and audit logs.")
set(MATTERFS_DEB_MAINTAINER "matterfs maintainers <maintainers@example.org>" CACHE STRING
    "Maintainer field of the deb")
set(CPACK_PACKAGE_CONTACT "${MATTERFS_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MATTERFS_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Shared libraries by dpkg-shlibdeps (libfuse3-3, libsodium23, libinih1, libboost...,
# libc6, libstdc++6); fusermount3, which unmounts for non-root users and the unit's
# ExecStop, is in fuse3.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
# Every file under /etc is a conffile: dpkg keeps an administrator's edits on upgrade.
function(matterfs_write_deb_conffiles)  # a function: the /usr paths stay in it
  matterfs_paths(/usr "${CMAKE_INSTALL_BINDIR}" "${CMAKE_INSTALL_DOCDIR}")
  file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles
       "${MATTERFS_CONFDIR}/firm.ini.example\n${MATTERFS_CONFDIR}/instance.conf.example\n")
endfunction()
matterfs_write_deb_conffiles()
# postinst and postrm: systemctl daemon-reload, as debhelper would add.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/debian/conffiles
    ${PROJECT_SOURCE_DIR}/cmake/debian/postinst ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
