"""Chat models: the offline fake, provider lookup, the factory hook, message text."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import types

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from yamlgraph import llm
from yamlgraph.llm import (
    FakeChatModel,
    ProviderNotInstalled,
    UnknownProvider,
    create_chat_model,
    default_model_factory,
    get_model_factory,
    message_text,
    set_model_factory,
)


@pytest.fixture(autouse=True)
def _restore_factory():
    yield
    set_model_factory(None)


# --- FakeChatModel ------------------------------------------------------------------------


def test_fake_is_a_chat_model():
    model = FakeChatModel()
    assert isinstance(model, BaseChatModel)
    assert model._llm_type == "fake"


def test_scripted_responses_in_order_then_repeat_last():
    model = FakeChatModel(["one", "two"])
    answers = [model.invoke("q").content for _ in range(4)]
    assert answers == ["one", "two", "two", "two"]


def test_responses_keyword_works_too():
    assert FakeChatModel(responses=["only"]).invoke("q").content == "only"


def test_dict_response_is_its_json_text():
    model = FakeChatModel([{"route": "yes", "score": 0.9}])
    content = model.invoke("q").content
    assert isinstance(content, str)
    assert json.loads(content) == {"route": "yes", "score": 0.9}


def test_echo_without_responses_returns_last_human_message():
    model = FakeChatModel()
    messages = [
        SystemMessage("be terse"),
        HumanMessage("first"),
        AIMessage("earlier answer"),
        HumanMessage("the question"),
    ]
    assert model.invoke(messages).content == "the question"
    assert model.invoke("plain string prompt").content == "plain string prompt"


def test_echo_with_empty_response_list():
    assert FakeChatModel([]).invoke("echo me").content == "echo me"


def test_echo_joins_content_blocks():
    message = HumanMessage(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert FakeChatModel().invoke([message]).content == "ab"


def test_echo_without_human_message_is_empty():
    assert FakeChatModel().invoke([SystemMessage("sys")]).content == ""


def test_each_instance_has_its_own_counter():
    first, second = FakeChatModel(["a", "b"]), FakeChatModel(["a", "b"])
    assert first.invoke("q").content == "a"
    assert second.invoke("q").content == "a"
    assert first.invoke("q").content == "b"


def test_counter_is_thread_safe():
    script = [f"r{i}" for i in range(200)]
    model = FakeChatModel(script)
    results: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        for _ in range(20):
            text = model.invoke("q").content
            with lock:
                results.append(text)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(script)  # every entry exactly once


def test_async_invoke():
    model = FakeChatModel(["async answer"])
    assert asyncio.run(model.ainvoke("q")).content == "async answer"


def test_responses_are_copied():
    script = ["a"]
    model = FakeChatModel(script)
    script.append("b")
    assert [model.invoke("q").content for _ in range(2)] == ["a", "a"]


# --- create_chat_model / providers --------------------------------------------------------


def test_create_fake_with_responses():
    model = create_chat_model("fake", responses=["x", "y"])
    assert isinstance(model, FakeChatModel)
    assert [model.invoke("q").content for _ in range(3)] == ["x", "y", "y"]


def test_create_fake_ignores_model_and_temperature():
    model = create_chat_model("fake", "any-model", 0.3, node_name="ask")
    assert model.invoke("hello").content == "hello"


def test_provider_name_is_case_insensitive():
    assert isinstance(create_chat_model(" Fake "), FakeChatModel)


def test_missing_provider_package_names_the_pip_package():
    assert "langchain_openai" not in sys.modules  # not installed in the test env
    with pytest.raises(ProviderNotInstalled) as info:
        create_chat_model("openai", "gpt-4o-mini")
    assert str(info.value) == (
        "provider 'openai' needs the 'langchain-openai' package: pip install langchain-openai"
    )
    assert isinstance(info.value, ImportError)
    assert info.value.package == "langchain-openai"


@pytest.mark.parametrize(
    ("provider", "module", "package"),
    [
        ("openai", "langchain_openai", "langchain-openai"),
        ("anthropic", "langchain_anthropic", "langchain-anthropic"),
        ("mistral", "langchain_mistralai", "langchain-mistralai"),
        ("google", "langchain_google_genai", "langchain-google-genai"),
        ("gemini", "langchain_google_genai", "langchain-google-genai"),
        ("ollama", "langchain_ollama", "langchain-ollama"),
    ],
)
def test_each_provider_missing_package_message(monkeypatch, provider, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(ProviderNotInstalled, match=f"pip install {package}$"):
        create_chat_model(provider)


@pytest.mark.parametrize(
    ("provider", "module", "class_name"),
    [
        ("openai", "langchain_openai", "ChatOpenAI"),
        ("anthropic", "langchain_anthropic", "ChatAnthropic"),
        ("mistral", "langchain_mistralai", "ChatMistralAI"),
        ("google", "langchain_google_genai", "ChatGoogleGenerativeAI"),
        ("gemini", "langchain_google_genai", "ChatGoogleGenerativeAI"),
        ("ollama", "langchain_ollama", "ChatOllama"),
    ],
)
def test_installed_provider_gets_model_and_temperature(monkeypatch, provider, module, class_name):
    class Recorder(FakeChatModel):
        model: str | None = None
        temperature: float | None = None

        def __init__(self, **kwargs):
            super().__init__(None, **kwargs)

    fake_module = types.ModuleType(module)
    setattr(fake_module, class_name, Recorder)
    monkeypatch.setitem(sys.modules, module, fake_module)

    chat = create_chat_model(provider, "some-model", 0.2, responses=["ignored"])
    assert isinstance(chat, Recorder)
    assert (chat.model, chat.temperature) == ("some-model", 0.2)
    assert chat.responses is None  # scripted responses are only for `fake`

    bare = create_chat_model(provider)
    assert (bare.model, bare.temperature) == (None, None)  # provider defaults apply


def test_unknown_provider_lists_known_ones():
    with pytest.raises(UnknownProvider) as info:
        create_chat_model("openia")
    message = str(info.value)
    assert "unknown LLM provider 'openia'" in message
    for name in ("fake", "openai", "anthropic", "mistral", "google", "gemini", "ollama"):
        assert name in message
    assert isinstance(info.value, ValueError)


# --- factory hook ------------------------------------------------------------------------------


def test_default_factory_is_active_by_default():
    assert get_model_factory() is default_model_factory


def test_custom_factory_receives_all_keyword_arguments():
    calls: list[dict] = []

    def factory(**kwargs):
        calls.append(kwargs)
        return FakeChatModel(["from factory"])

    set_model_factory(factory)
    assert get_model_factory() is factory
    model = create_chat_model("openai", "gpt-x", 0.5, responses=["r"], node_name="ask")
    assert model.invoke("q").content == "from factory"
    assert calls == [
        {
            "provider": "openai",
            "model": "gpt-x",
            "temperature": 0.5,
            "responses": ["r"],
            "node_name": "ask",
        }
    ]


def test_custom_factory_can_delegate_to_default():
    def factory(*, node_name=None, **kwargs):
        if node_name == "judge":
            return FakeChatModel(["approved"])
        return default_model_factory(node_name=node_name, **kwargs)

    set_model_factory(factory)
    assert create_chat_model("fake", node_name="judge").invoke("q").content == "approved"
    assert create_chat_model("fake", node_name="other").invoke("echo").content == "echo"


def test_none_restores_default():
    set_model_factory(lambda **kwargs: FakeChatModel(["custom"]))
    set_model_factory(None)
    assert get_model_factory() is default_model_factory
    assert create_chat_model("fake").invoke("echo").content == "echo"


def _module_factory(**kwargs):
    return FakeChatModel([f"dotted {kwargs['node_name']}"])


@pytest.mark.parametrize(
    "path",
    [
        "tests.yamlgraph.test_llm._module_factory",
        "tests.yamlgraph.test_llm:_module_factory",
    ],
)
def test_dotted_path_factory(path):
    set_model_factory(path)
    assert get_model_factory() is _module_factory
    assert create_chat_model("fake", node_name="n1").invoke("q").content == "dotted n1"


@pytest.mark.parametrize(
    "path",
    ["tests.yamlgraph.test_llm.no_such_factory", "no_such_module_xyz.factory", "nodots"],
)
def test_bad_dotted_path_is_import_error(path):
    with pytest.raises(ImportError):
        set_model_factory(path)
    assert get_model_factory() is default_model_factory


def test_non_callable_factory_is_type_error():
    with pytest.raises(TypeError, match="callable"):
        set_model_factory(42)  # type: ignore[arg-type]


def test_factory_is_process_wide():
    seen: list[str] = []
    set_model_factory(lambda **kwargs: seen.append(kwargs["provider"]) or FakeChatModel())
    thread = threading.Thread(target=lambda: create_chat_model("fake"))
    thread.start()
    thread.join()
    assert seen == ["fake"]


# --- message_text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (AIMessage("plain"), "plain"),
        (
            AIMessage(
                content=[
                    {"type": "text", "text": "Hello "},
                    {"type": "tool_use", "id": "1", "name": "t", "input": {}},
                    "world",
                    {"type": "text", "text": "!"},
                ]
            ),
            "Hello world!",
        ),
        (AIMessage(content=[]), ""),
        ("already text", "already text"),
        (None, ""),
    ],
)
def test_message_text(message, expected):
    assert message_text(message) == expected


def test_known_providers_constant():
    assert llm.KNOWN_PROVIDERS[0] == "fake"
    assert set(llm.KNOWN_PROVIDERS) == {
        "fake",
        "openai",
        "anthropic",
        "mistral",
        "google",
        "gemini",
        "ollama",
    }
