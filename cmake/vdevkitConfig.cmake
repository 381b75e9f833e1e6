include("${CMAKE_CURRENT_LIST_DIR}/vdevkitTargets.cmake")
