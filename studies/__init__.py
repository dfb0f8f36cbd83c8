"""The study files and network specs shipped with mcsim (package data, ``mcsim.studies``)."""
