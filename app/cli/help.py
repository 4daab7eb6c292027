HELP = """Command line for operators: talks to a running server over HTTP, local or remote.

    python -m app.cli [--url http://host:5000] [--api-key KEY] COMMAND ...

    enroll-dir DIR        one subfolder per person (or files named person_01.jpg ...)
    recognize-dir DIR     every image: faces, names, time; --out results.json, --txt results.txt
    export FILE           the whole gallery (people, names, embeddings, face crops, model id) as JSON
    import FILE           a file from export; refused when the gallery is of another model
    reembed               every enrolled face embedded again with the server's model (after a
                          change of EMBEDDER or FACE_CROP); resumes an interrupted run
    evaluate DIR          accuracy on labelled photos (train/ and val/, or person folders)
    camera SOURCE         a camera node: frames from SOURCE to /recognize (app/camera_node.py)
    frigate               the Frigate bridge: names Frigate's people (sub_label), Double Take's
                          MQTT topics (app/frigate/; docs/frigate.md)
    import-faces DIR      a Frigate, Double Take or CompreFace face library; --dry-run lists
                          what would be refused (no face, low quality, duplicate)
"""
