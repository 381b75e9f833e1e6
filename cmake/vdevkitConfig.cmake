# find_package(vdevkit): the imported targets vdevkit::vdev (libvdev.so), vdevkit::vdev_static
# (libvdev.a) and vdevkit::vdev_headers, from wherever this prefix was installed.

# libvdev.a needs libfdt; it is looked up on this machine (libvdev.so links it itself, so a
# program using the shared library needs no libfdt development files).
if(NOT TARGET vdevkit::fdt)
  find_library(VDEVKIT_FDT_LIBRARY fdt)
  add_library(vdevkit::fdt INTERFACE IMPORTED)
  if(VDEVKIT_FDT_LIBRARY)
    set_target_properties(vdevkit::fdt PROPERTIES INTERFACE_LINK_LIBRARIES "${VDEVKIT_FDT_LIBRARY}")
  else()
    set_target_properties(vdevkit::fdt PROPERTIES INTERFACE_LINK_LIBRARIES fdt)
  endif()
endif()

include("${CMAKE_CURRENT_LIST_DIR}/vdevkitTargets.cmake")
