def attend():
    raise NotImplementedError("attend")
