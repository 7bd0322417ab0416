# Fills a fuzz target's corpus folder at test time (cmake -P):
#   -DTARGET=name -DCORPUS=dir -DMAKE_SEEDS=exe -DSEEDS=list-file -DDATA=dir
# Generated seeds come from make_seeds; real files named in <target>.seeds
# (paths under the shared data folder, one a line) are copied when present.
file(MAKE_DIRECTORY ${CORPUS})
execute_process(COMMAND ${MAKE_SEEDS} ${TARGET} ${CORPUS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make_seeds ${TARGET} failed: ${rc}")
endif()
if(EXISTS ${SEEDS})
  file(STRINGS ${SEEDS} lines)
  foreach(rel ${lines})
    if(rel MATCHES "^#" OR rel STREQUAL "")
      continue()
    endif()
    if(EXISTS ${DATA}/${rel})
      string(MAKE_C_IDENTIFIER ${rel} flat)
      configure_file(${DATA}/${rel} ${CORPUS}/${flat} COPYONLY)
    endif()
  endforeach()
endif()
