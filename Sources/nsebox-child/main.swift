import NSEChild

// The sandboxed script process. The broker starts it with the RPC socket as fd 3.
ChildMain.run()
