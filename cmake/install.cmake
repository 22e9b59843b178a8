# Install rules other than the units (systemd/CMakeLists.txt).
install(TARGETS rblzoned rblzone RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The example daemon config, pointed at RBLZONE_CONFDIR, and the example zones.
file(READ ${PROJECT_SOURCE_DIR}/docs/examples/rblzoned.toml rblzone_example_config)
string(REPLACE "/etc/rblzone/" "${RBLZONE_CONFDIR}/" rblzone_example_config
               "${rblzone_example_config}")
file(WRITE ${PROJECT_BINARY_DIR}/etc/rblzoned.toml "${rblzone_example_config}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/docs/examples/rblzoned.toml)
file(GLOB rblzone_example_zones CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/zones/*.toml)

# An upgrade must not replace what the operator edited: each file goes in
# only when absent (DESTDIR honoured; file(INSTALL) adds it to DESTINATION).
install(CODE "
  set(confdir \"${RBLZONE_CONFDIR}\")
  foreach(pair \"${PROJECT_BINARY_DIR}/etc/rblzoned.toml|\" ${rblzone_example_zones})
    string(REPLACE \"|\" \"\" src \"\${pair}\")
    get_filename_component(name \"\${src}\" NAME)
    if(pair MATCHES \"[|]$\")
      set(dest \"\${confdir}\")
    else()
      set(dest \"\${confdir}/zones\")
    endif()
    if(EXISTS \"\$ENV{DESTDIR}\${dest}/\${name}\")
      message(STATUS \"Keeping: \$ENV{DESTDIR}\${dest}/\${name}\")
    else()
      file(INSTALL DESTINATION \"\${dest}\" TYPE FILE FILES \"\${src}\")
    endif()
  endforeach()
")

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The admin interface's static pages, when the tree has them.
if(EXISTS ${PROJECT_SOURCE_DIR}/web)
  install(DIRECTORY web/ DESTINATION ${CMAKE_INSTALL_DATADIR}/rblzone/web)
endif()
