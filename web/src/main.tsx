import { render } from 'preact';
import { App } from './app.js';
import { applyLang, savedLang } from './i18n.js';
import './styles.css';

// Before the first render, so the page never shows one language under another's lang (issue 14).
applyLang(savedLang());

render(<App />, document.getElementById('app')!);
