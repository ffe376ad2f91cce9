"""Git over the real ``git`` CLI: ref names and refspecs checked as git checks them, and one
remote transport (ls-remote, fetch, push) with scoped credentials, used by GitRepository
sources and by image-update automation. No Airflow imports."""
