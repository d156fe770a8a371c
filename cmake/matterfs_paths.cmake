# matterfs_paths(PREFIX BINDIR DOCDIR): sets, in the caller's scope, the absolute paths the
# installed systemd units name and where the units and the example configuration go, for
# an installation under PREFIX (BINDIR and DOCDIR as GNUInstallDirs gives them, relative
# or absolute):
#
#   CMAKE_INSTALL_FULL_BINDIR  PREFIX/BINDIR              ExecStart= of the units
#   CMAKE_INSTALL_FULL_DOCDIR  PREFIX/DOCDIR              Documentation= of the units
#   MATTERFS_CONFDIR           /etc/matterfs for the prefixes /usr and /usr/local,
#                              /etc/opt/X/matterfs for /opt/X (GNUInstallDirs' rule),
#                              else PREFIX/etc/matterfs; MATTERFS_CONFDIR_OVERRIDE wins
#   MATTERFS_UNITDIR           for /usr: systemd's own systemdsystemunitdir (pkg-config,
#                              /lib/systemd/system on Debian 12), else
#                              PREFIX/lib/systemd/system; MATTERFS_UNITDIR_OVERRIDE wins
#
# /usr/local gets /etc/matterfs, not GNUInstallDirs' /usr/local/etc: the units, the
# /etc/fstab lines and the documentation all name /etc/matterfs, and systemd reads
# /usr/local/lib/systemd/system too, so a `cmake --install` to the default prefix gives
# working units. Used at configure time (the units under BUILD/systemd/, the deb's
# conffiles) and at install time (cmake/install_units.cmake.in), where the prefix is the
# one of that install (`cmake --install --prefix`, or /usr when CPack builds the deb).
function(matterfs_paths prefix bindir docdir)
  string(REGEX REPLACE "/+$" "" prefix "${prefix}")
  foreach(kind bindir docdir)
    if(IS_ABSOLUTE "${${kind}}")
      set(full_${kind} "${${kind}}")
    else()
      set(full_${kind} "${prefix}/${${kind}}")
    endif()
  endforeach()

  if(MATTERFS_CONFDIR_OVERRIDE)
    set(confdir "${MATTERFS_CONFDIR_OVERRIDE}")
  elseif(prefix STREQUAL "/usr" OR prefix STREQUAL "/usr/local")
    set(confdir "/etc/matterfs")
  elseif(prefix MATCHES "^/opt/")
    set(confdir "/etc${prefix}/matterfs")
  else()
    set(confdir "${prefix}/etc/matterfs")
  endif()

  if(MATTERFS_UNITDIR_OVERRIDE)
    set(unitdir "${MATTERFS_UNITDIR_OVERRIDE}")
  elseif(prefix STREQUAL "/usr" AND MATTERFS_SYSTEMD_SYSTEM_UNIT_DIR)
    set(unitdir "${MATTERFS_SYSTEMD_SYSTEM_UNIT_DIR}")
  else()
    set(unitdir "${prefix}/lib/systemd/system")
  endif()

  set(CMAKE_INSTALL_FULL_BINDIR "${full_bindir}" PARENT_SCOPE)
  set(CMAKE_INSTALL_FULL_DOCDIR "${full_docdir}" PARENT_SCOPE)
  set(MATTERFS_CONFDIR "${confdir}" PARENT_SCOPE)
  set(MATTERFS_UNITDIR "${unitdir}" PARENT_SCOPE)
endfunction()

# matterfs_configure_units(OUTDIR TEMPLATE...): configure_file of each systemd/*.in into
# OUTDIR (without the .in), with the variables matterfs_paths set.
function(matterfs_configure_units outdir)
  foreach(template IN LISTS ARGN)
    get_filename_component(name "${template}" NAME)
    string(REGEX REPLACE "\\.in$" "" name "${name}")
    configure_file("${template}" "${outdir}/${name}" @ONLY)
  endforeach()
endfunction()
