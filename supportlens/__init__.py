"""SupportLens, the product: the command line and the services the app calls, composed from the assistant (models,
summaries, audits), the knowledge base and the data loaders. Dependencies run one way: assistant <- knowledge_base <-
training / eval <- supportlens <- app."""
