"""Model-made and rendered data: the LLM client (`llm`), Docmatix's prompts (`qa_prompts`) and
reply parsing (`qa_parse`), and rendered text (`rendered_text`).

The demo corpus, the local test web and the generated documents the tests and `vlmdata demo`
use live apart, in `synth.demo`."""
