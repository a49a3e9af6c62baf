# write_if_changed.cmake — lt_write_if_changed(path text): writes the file
# only when its content differs, so an unchanged generated source does not
# rebuild what depends on it. Included by the embedding scripts
# (embed_lua.cmake, embed_file.cmake).
function(lt_write_if_changed path text)
  set(old "")
  if(EXISTS "${path}")
    file(READ "${path}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${path}" "${text}")
  endif()
endfunction()
