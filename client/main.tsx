import { createRoot } from 'react-dom/client';

// Placeholder until the SPA lands (issue 6).
createRoot(document.getElementById('root')!).render(<h1>梦工厂 Dream Factory</h1>);
