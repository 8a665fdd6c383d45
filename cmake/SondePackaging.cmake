# Debian packages sonde-prober, sonde-collector and sondectl, made by CPack's
# DEB generator from the tree already built (`cpack -G DEB` in the build
# directory; ./packaging.sh does it from a clean checkout). Why CPack and not
# dpkg-buildpackage: the test suite has built every binary once already, and
# a second, debhelper-driven build would add 10+ minutes to CI; CPack reuses
# the binaries and still runs dpkg-shlibdeps for Depends. What debhelper
# would add by hand here: stripped binaries, md5sums, compressed man pages and
# changelog, copyright, conffiles, maintainer scripts (deploy/debian/).
#
# Sources: deploy/systemd (units), deploy/debian (maintainer scripts,
# /etc/default files, copyright, changelog), deploy/man (help2man include
# files and sonde.yaml.5), deploy/completion, deploy/examples.
include(GNUInstallDirs)

# Debian revision 1: these are not native packages of a Debian source.
set(SONDE_DEB_VERSION "${PROJECT_VERSION}-1")
set(SONDE_DEB_DIR "${PROJECT_BINARY_DIR}/debian")
set(SONDE_DEPLOY "${PROJECT_SOURCE_DIR}/deploy")

# --- man pages: help2man from each binary's --help/--version (so the options
# section is always the binary's own), plus hand-written sections.
find_program(HELP2MAN help2man)
find_program(GZIP gzip REQUIRED)
set(SONDE_MAN_DIR "${PROJECT_BINARY_DIR}/man")
set(sonde_man_outputs "")
function(sonde_man_page target section)
  set(out "${SONDE_MAN_DIR}/${target}.${section}")
  add_custom_command(
    OUTPUT "${out}.gz"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${SONDE_MAN_DIR}"
    COMMAND ${HELP2MAN} --no-info --section=${section} --source=Sonde
            --include=${SONDE_DEPLOY}/man/${target}.h2m --output=${out} $<TARGET_FILE:${target}>
    COMMAND ${GZIP} -9nf "${out}"
    DEPENDS ${target} "${SONDE_DEPLOY}/man/${target}.h2m"
    COMMENT "man page ${target}(${section})"
    VERBATIM)
  set(sonde_man_outputs ${sonde_man_outputs} "${out}.gz" PARENT_SCOPE)
endfunction()
if(HELP2MAN)
  sonde_man_page(sonde-prober 8)
  sonde_man_page(sonde-collector 8)
  sonde_man_page(sondectl 1)
  add_custom_command(
    OUTPUT "${SONDE_MAN_DIR}/sonde.yaml.5.gz"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${SONDE_MAN_DIR}"
    COMMAND ${GZIP} -9nc "${SONDE_DEPLOY}/man/sonde.yaml.5" > "${SONDE_MAN_DIR}/sonde.yaml.5.gz"
    DEPENDS "${SONDE_DEPLOY}/man/sonde.yaml.5"
    VERBATIM)
  list(APPEND sonde_man_outputs "${SONDE_MAN_DIR}/sonde.yaml.5.gz")
  add_custom_target(sonde-man ALL DEPENDS ${sonde_man_outputs})
  install(FILES "${SONDE_MAN_DIR}/sonde-prober.8.gz" DESTINATION share/man/man8 COMPONENT prober)
  install(FILES "${SONDE_MAN_DIR}/sonde-collector.8.gz" DESTINATION share/man/man8
          COMPONENT collector)
  install(FILES "${SONDE_MAN_DIR}/sonde.yaml.5.gz" DESTINATION share/man/man5 COMPONENT collector)
  install(FILES "${SONDE_MAN_DIR}/sondectl.1.gz" DESTINATION share/man/man1 COMPONENT sondectl)
else()
  message(STATUS "help2man not found: no man pages (deploy/install-deps.sh installs it)")
endif()

# --- per-package files. Absolute destinations (/etc, /lib) are what the
# packages need; CPack's DEB generator stages them like any other.
install(TARGETS sonde-prober RUNTIME DESTINATION bin COMPONENT prober)
install(TARGETS sonde-collector RUNTIME DESTINATION bin COMPONENT collector)
install(TARGETS sondectl RUNTIME DESTINATION bin COMPONENT sondectl)

install(FILES "${SONDE_DEPLOY}/systemd/sonde-prober.service"
              "${SONDE_DEPLOY}/systemd/sonde-prober@.service"
        DESTINATION /lib/systemd/system COMPONENT prober)
install(FILES "${SONDE_DEPLOY}/systemd/sonde-collector.service"
        DESTINATION /lib/systemd/system COMPONENT collector)
install(FILES "${SONDE_DEPLOY}/debian/sonde-prober.default" DESTINATION /etc/default
        RENAME sonde-prober COMPONENT prober)
install(FILES "${SONDE_DEPLOY}/debian/sonde-collector.default" DESTINATION /etc/default
        RENAME sonde-collector COMPONENT collector)
install(FILES "${SONDE_DEPLOY}/examples/sonde.yaml" DESTINATION /etc/sonde RENAME prober.yaml
        COMPONENT prober)
install(FILES "${SONDE_DEPLOY}/examples/sonde.yaml" DESTINATION /etc/sonde COMPONENT collector)
# 0640 root:sonde comes from dpkg-statoverride in postinst (the group does
# not exist at build time) and stays across upgrades; the shipped file holds
# no secret, so its 0644 before the first configure exposes nothing.
install(FILES "${SONDE_DEPLOY}/debian/tokens.yaml" DESTINATION /etc/sonde COMPONENT collector)
install(FILES "${SONDE_DEPLOY}/completion/sondectl"
        DESTINATION share/bash-completion/completions COMPONENT sondectl)
install(FILES "${SONDE_DEPLOY}/certs/make-certs.sh" DESTINATION share/doc/sonde-collector/examples
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ COMPONENT collector)

# copyright and changelog.Debian.gz in each package's doc directory.
set(SONDE_GIT_REVISION_FOR_CHANGELOG "${SONDE_GIT_REVISION}")
configure_file("${SONDE_DEPLOY}/debian/changelog.in" "${SONDE_DEB_DIR}/changelog" @ONLY)
execute_process(COMMAND ${GZIP} -9nf "${SONDE_DEB_DIR}/changelog")
foreach(pkg prober collector sondectl)
  if(pkg STREQUAL "sondectl")
    set(name sondectl)
  else()
    set(name sonde-${pkg})
  endif()
  install(FILES "${SONDE_DEPLOY}/debian/copyright" DESTINATION share/doc/${name} COMPONENT ${pkg})
  install(FILES "${SONDE_DEB_DIR}/changelog.gz" DESTINATION share/doc/${name}
          RENAME changelog.Debian.gz COMPONENT ${pkg})
  # The one lintian override, justified in the file itself.
  file(WRITE "${SONDE_DEB_DIR}/lintian/${name}"
       "# These packages are built for the organisation running Sonde, never uploaded\n"
       "# to Debian: there is no ITP bug for the first changelog entry to close.\n"
       "${name}: initial-upload-closes-no-bugs [usr/share/doc/${name}/changelog.Debian.gz:1]\n")
  install(FILES "${SONDE_DEB_DIR}/lintian/${name}" DESTINATION share/lintian/overrides
          COMPONENT ${pkg})
endforeach()

# --- maintainer scripts and conffiles, per package.
function(sonde_control_files pkg units postinst_extra purge_extra conffiles)
  set(dir "${SONDE_DEB_DIR}/${pkg}")
  set(SONDE_PACKAGE "${pkg}")
  set(SONDE_UNITS "${units}")
  set(SONDE_POSTINST_EXTRA "${postinst_extra}")
  set(SONDE_PURGE_EXTRA "${purge_extra}")
  set(files "")
  if(units)
    foreach(script postinst prerm postrm)
      configure_file("${SONDE_DEPLOY}/debian/${script}.in" "${dir}/${script}" @ONLY
                     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                                      GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
      list(APPEND files "${dir}/${script}")
    endforeach()
  endif()
  if(conffiles)
    string(REPLACE ";" "\n" text "${conffiles}")
    file(WRITE "${dir}/conffiles" "${text}\n")
    list(APPEND files "${dir}/conffiles")
  endif()
  set(control_files "${files}" PARENT_SCOPE)
endfunction()

sonde_control_files(sonde-prober "sonde-prober.service" ""
  "    rm -rf /var/lib/sonde/prober /var/lib/sonde/prober-*"
  "/etc/default/sonde-prober;/etc/sonde/prober.yaml")
set(CPACK_DEBIAN_PROBER_PACKAGE_CONTROL_EXTRA "${control_files}")
sonde_control_files(sonde-collector "sonde-collector.service"
  "    if ! dpkg-statoverride --list /etc/sonde/tokens.yaml >/dev/null 2>&1; then
        dpkg-statoverride --update --add root sonde 0640 /etc/sonde/tokens.yaml
    fi"
  "    dpkg-statoverride --remove /etc/sonde/tokens.yaml >/dev/null 2>&1 || true"
  "/etc/default/sonde-collector;/etc/sonde/sonde.yaml;/etc/sonde/tokens.yaml")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_CONTROL_EXTRA "${control_files}")

# --- CPack.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sonde)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_PACKAGE_CONTACT "Sonde maintainers <maintainers@users.noreply.h-seed-d3bafc69.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL prober collector sondectl)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://sonde.example.org/")
set(CPACK_DEBIAN_PROBER_PACKAGE_NAME sonde-prober)
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_NAME sonde-collector)
set(CPACK_DEBIAN_SONDECTL_PACKAGE_NAME sondectl)
set(CPACK_DEBIAN_SONDECTL_PACKAGE_SECTION admin)
# adduser: postinst creates the sonde user.
set(CPACK_DEBIAN_PROBER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_SUGGESTS "postgresql, sondectl")
set(CPACK_DEBIAN_PROBER_PACKAGE_SUGGESTS "sondectl")
set(CPACK_COMPONENT_PROBER_DESCRIPTION
    "Sonde prober: synthetic uptime checks streamed to a collector
sonde-prober runs HTTP, TLS, TCP, DNS, ICMP echo and gRPC health checks for
one region and streams every result to the Sonde collector over gRPC,
spooling to disk while the collector is unreachable. Includes the
sonde-prober.service and sonde-prober@.service systemd units.")
set(CPACK_COMPONENT_COLLECTOR_DESCRIPTION
    "Sonde collector: stores probe results, detects incidents, notifies
sonde-collector receives results from Sonde probers in every region, stores
them in PostgreSQL, detects global, regional and partial outages, and pages
people through webhooks, Alertmanager or e-mail until acknowledged.
Includes the sonde-collector.service systemd unit.")
set(CPACK_COMPONENT_SONDECTL_DESCRIPTION
    "Sonde command line: incidents, acknowledgements, reports
sondectl asks a Sonde collector about incidents and availability,
acknowledges incidents and validates Sonde config files.")
include(CPack)
