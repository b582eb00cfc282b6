# Install rules for packagers: `cmake --install build --prefix P` puts
#   P/bin/prestaged                                the daemon                 (component daemon)
#   P/bin/prestage                                 the command line client    (component python)
#   P/<PRESTAGE_PYTHON_INSTALL_DIR>/prestage/      the Python package         (component python)
#   P/share/prestage/prestage-vscode.vsix          the VS Code extension, if built (component vscode)
# The .vsix is not part of the default build (npm is slow and optional): build it with
#   cmake --build build --target prestage_vsix
include(GNUInstallDirs)

set(PRESTAGE_PYTHON_INSTALL_DIR "lib/python3/dist-packages" CACHE STRING
    "Where `cmake --install` puts the prestage Python package, relative to the prefix (or absolute)")

install(TARGETS prestaged RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)

set(_prestage_package_dir ${PRESTAGE_PYTHON_INSTALL_DIR}/prestage)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/pyclient/prestage/ DESTINATION ${_prestage_package_dir} COMPONENT python
        PATTERN __pycache__ EXCLUDE PATTERN "*.pyc" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/pyclient/native/prestage_pybind11.cpp
        DESTINATION ${_prestage_package_dir}/native COMPONENT python)

# The client looks for its bundled daemon at prestage/bin/prestaged (as in the wheel); here that is a
# relative link to bin/prestaged, so the installed tree can be moved. Not made for an absolute dir.
if(NOT IS_ABSOLUTE "${PRESTAGE_PYTHON_INSTALL_DIR}" AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  file(RELATIVE_PATH _prestage_daemon_link_target "/prefix/${_prestage_package_dir}/bin"
       "/prefix/${CMAKE_INSTALL_BINDIR}/prestaged")
  install(CODE "
    set(_link \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${_prestage_package_dir}/bin/prestaged\")
    file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${_prestage_package_dir}/bin\")
    file(REMOVE \"\${_link}\")
    file(CREATE_LINK \"${_prestage_daemon_link_target}\" \"\${_link}\" SYMBOLIC)
    message(STATUS \"Linking: \${_link} -> ${_prestage_daemon_link_target}\")
  " COMPONENT python)
endif()

# bin/prestage: finds the package relative to itself, so a prefix off sys.path works too.
if(IS_ABSOLUTE "${PRESTAGE_PYTHON_INSTALL_DIR}")
  set(PRESTAGE_PYTHON_DIR_FROM_BIN "${PRESTAGE_PYTHON_INSTALL_DIR}")
else()
  file(RELATIVE_PATH PRESTAGE_PYTHON_DIR_FROM_BIN "/prefix/${CMAKE_INSTALL_BINDIR}" "/prefix/${PRESTAGE_PYTHON_INSTALL_DIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/prestage-command.py.in ${CMAKE_BINARY_DIR}/install/prestage @ONLY)
install(PROGRAMS ${CMAKE_BINARY_DIR}/install/prestage DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT python)

# The VS Code extension: an explicit target, skipped with a message when npm or vscode-ext/ is absent.
option(PRESTAGE_BUILD_VSIX "Offer the prestage_vsix target (needs npm) and install its .vsix" ON)
set(PRESTAGE_VSIX ${CMAKE_BINARY_DIR}/vscode-ext/prestage-vscode.vsix)
if(PRESTAGE_BUILD_VSIX)
  find_program(PRESTAGE_NPM npm)
  set(_prestage_ext ${PROJECT_SOURCE_DIR}/vscode-ext)
  if(NOT EXISTS ${_prestage_ext}/package.json)
    message(STATUS "prestage: no vscode-ext/ in this source tree; the .vsix is not built")
  elseif(NOT PRESTAGE_NPM)
    message(STATUS "prestage: npm not found; the VS Code extension (.vsix) is not built or installed "
                   "(install nodejs and npm, or pass -DPRESTAGE_BUILD_VSIX=OFF)")
  else()
    file(GLOB_RECURSE _prestage_ext_sources CONFIGURE_DEPENDS ${_prestage_ext}/src/*.ts ${_prestage_ext}/scripts/*)
    add_custom_command(
      OUTPUT ${PRESTAGE_VSIX}
      COMMAND sh -c "[ -d node_modules ] || '${PRESTAGE_NPM}' ci --no-audit --no-fund --prefer-offline"
      COMMAND ${PRESTAGE_NPM} exec --no -- vsce package --out ${PRESTAGE_VSIX}
      WORKING_DIRECTORY ${_prestage_ext}
      DEPENDS ${_prestage_ext_sources} ${_prestage_ext}/package.json ${_prestage_ext}/package-lock.json
              ${_prestage_ext}/tsconfig.json ${PROJECT_SOURCE_DIR}/schemas/error-codes.json
      COMMENT "Packaging the VS Code extension (vsce)"
      VERBATIM)
    add_custom_target(prestage_vsix DEPENDS ${PRESTAGE_VSIX})
  endif()
endif()
install(FILES ${PRESTAGE_VSIX} DESTINATION ${CMAKE_INSTALL_DATADIR}/prestage COMPONENT vscode OPTIONAL)
install(CODE "
  if(NOT EXISTS \"${PRESTAGE_VSIX}\")
    message(STATUS \"prestage: no .vsix installed (build it first: cmake --build ${CMAKE_BINARY_DIR} --target prestage_vsix)\")
  endif()
" COMPONENT vscode)
