// Sign-in: email and password, then the second factor when the account has one.
import { html, useEffect, useRef, useState } from '../../vendor/htm-preact-standalone.js';
import { ApiError } from '../api.js';
import { signIn } from '../session.js';
import { ErrorBox, Field, useTitle, valueOf } from '../ui.js';

/** @param {{notice: string}} props */
export function SignIn({ notice }) {
  useTitle('Sign in');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  // `password` first; `code` once the server said the account has a second factor.
  const [step, setStep] = useState(/** @type {'password' | 'code'} */ ('password'));
  const [useRecovery, setUseRecovery] = useState(false);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const codeInput = useRef(/** @type {HTMLInputElement | null} */ (null));

  useEffect(() => { if (step === 'code') codeInput.current?.focus(); }, [step, useRecovery]);

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const second = step === 'code' ? (useRecovery ? { recoveryCode: code.trim() } : { code: code.replace(/\s/g, '') }) : {};
      await signIn({ email: email.trim(), password, ...second });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'TWO_FACTOR_REQUIRED') {
        setStep('code');
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  const codeLabel = useRecovery ? 'Recovery code' : 'Code from your authenticator app';
  return html`<div class="center">
    <form class="card sign-in" onSubmit=${submit} novalidate>
      <h1>shopd admin</h1>
      ${notice && !error && html`<p class="notice" role="status">${notice}</p>`}
      ${step === 'password'
        ? html`
          <${Field} id="email" label="Email">
            <input id="email" type="email" autocomplete="username" required value=${email}
              onInput=${(/** @type {Event} */ e) => setEmail(valueOf(e))} />
          <//>
          <${Field} id="password" label="Password">
            <input id="password" type="password" autocomplete="current-password" required value=${password}
              onInput=${(/** @type {Event} */ e) => setPassword(valueOf(e))} />
          <//>`
        : html`
          <p>This account has two-factor sign-in. ${useRecovery ? 'Enter one of your recovery codes.' : 'Enter the 6-digit code your app shows.'}</p>
          <${Field} id="code" label=${codeLabel}>
            <input id="code" ref=${codeInput} autocomplete="one-time-code" required value=${code}
              inputmode=${useRecovery ? 'text' : 'numeric'} maxlength=${useRecovery ? 64 : 8}
              onInput=${(/** @type {Event} */ e) => setCode(valueOf(e))} />
          <//>
          <button type="button" class="link" onClick=${() => { setUseRecovery(!useRecovery); setCode(''); setError(null); }}>
            ${useRecovery ? 'Use a code from the app instead' : 'Use a recovery code'}
          </button>`}
      <${ErrorBox} error=${error} />
      <div class="actions">
        <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : step === 'code' ? 'Verify and sign in' : 'Sign in'}</button>
        ${step === 'code' && html`<button type="button" class="secondary"
          onClick=${() => { setStep('password'); setCode(''); setError(null); }}>Back</button>`}
      </div>
    </form>
  </div>`;
}
